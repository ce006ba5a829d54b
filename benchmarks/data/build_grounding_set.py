"""Builds ``grounding_set.jsonl``, the labelled pairs ``benchmarks/grounding_bench.py`` measures grounding on.

    PYTHONPATH=. python benchmarks/data/build_grounding_set.py

Every line is one pair with its chunk and a label: ``right`` (the chunk supports the answer and the
question makes sense of it) or ``wrong``. The chunks are those of the sample corpus (``corpus/``)
split as a default run splits them (800 tokens, 80 of overlap). Kinds:

- ``correct``: written by hand from the chunk, in the way a good model paraphrases (label right);
- ``swapped_number`` / ``swapped_name``: a correct answer with one figure or one name replaced by
  another of the same chunk (label wrong; a swap that happens to stay true is left out);
- ``glued``: two facts of different sentences of the chunk stuck together wrongly, written by hand;
- ``example_leak``: answers naming what only the one-shot example of ``templates/qa.json`` holds;
- ``model``: the pairs qagen kept from SmolLM2-135M's real replies on this corpus
  (``/work/shared/data/smollm2-replies.jsonl``), labelled by hand. The replies record no chunk,
  so each is paired with the chunk of the file its answer is about.

The file is written once and committed; rerun this only to change the set.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from qagen.documents.chunking import split_documents
from qagen.documents.loading import load_corpus
from qagen.documents.tokens import counter_for

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "grounding_set.jsonl"

F0, F1 = ("fares-and-tickets.md", 0), ("fares-and-tickets.md", 1)
FL0, FL1 = ("fleet.txt", 0), ("fleet.txt", 1)
H0 = ("history.md", 0)
R0, R1 = ("routes-and-timetables.md", 0), ("routes-and-timetables.md", 1)
I0 = ("operations/incident-log-2023.txt", 0)
S0, S1 = ("operations/safety-rules.txt", 0), ("operations/safety-rules.txt", 1)
HB0 = ("operations/staff-handbook.md", 0)

# (chunk, question, answer)
CORRECT = [
    (F0, "How much is an adult single on Route 1?", "An adult single on Route 1 costs £9.40."),
    (F0, "By how much did fares rise on 1 April 2024?", "Fares rose by an average of 4.5 percent on 1 April 2024."),
    (F0, "What do children aged 5 to 15 pay on the Brannoch Sound ferries?", "Children aged 5 to 15 pay half the adult fare."),
    (F0, "What does a passenger aged 65 or over pay?", "Passengers aged 65 or over pay the senior fare, which is half the adult fare."),
    (F0, "How much is a 10-journey carnet for adults on Route 1?", "A 10-journey carnet for adults on Route 1 costs £75.00 and is valid for 12 months."),
    (F0, "How are vehicles over 7.0 m charged?", "Vehicles over 7.0 m are charged £9.80 per metre and must be booked at least 48 hours ahead."),
    (F0, "What discount does the Islander card give?", "The Islander card gives 40 percent off adult fares and car fares on every route."),
    (F0, "How much does the Islander card cost?", "The Islander card costs £5.00 and is valid for three years."),
    (F0, "How many bicycles does the Gullwing take on Route 3?", "Bicycles cost £2.00 on Route 3 and the Gullwing takes no more than four."),
    (F0, "What are the fares on Route 4?", "On Route 4 an adult pays £3.60 and a child £1.80."),
    (F0, "How much is a car up to 5.0 m on Route 1?", "A car up to 5.0 m costs £38.00 on Route 1."),
    (F0, "What is the adult single from Port Essary to Little Skaith?", "The adult single from Port Essary to Little Skaith is £10.80."),
    (F0, "Why are bicycles not carried on Route 4?", "Bicycles are not carried on Route 4 because Fennick Holm has no roads."),
    (F1, "When does vehicle check-in close?", "Vehicle check-in closes 15 minutes before departure."),
    (F1, "What does changing a vehicle booking cost less than 48 hours before departure?", "A change made less than 48 hours before departure costs £5.00."),
    (F1, "How much is refunded when a booking is cancelled within 24 hours of departure?", "Cancelling within 24 hours of departure gives a 50 percent refund."),
    (F1, "How soon are refunds paid?", "Refunds are paid to the original card within 10 working days."),
    (F1, "How far ahead do bookings open?", "Bookings open 90 days before the date of travel."),
    (F1, "What may passengers choose when the cooperative cancels a sailing?", "They may choose a full refund or a free transfer to another sailing within 30 days."),
    (F1, "How can foot passengers pay on board?", "On board, foot passengers pay by card or by cash up to £50."),
    (FL0, "When was the MV Heather Bell built, and by whom?", "The MV Heather Bell was built in 2021 by Ostrand Marine in Kalvik."),
    (FL0, "How many passengers and cars can the MV Corrie Dawn carry?", "The MV Corrie Dawn carries 220 passengers and 28 cars."),
    (FL0, "How much did the Heather Bell cost?", "The Heather Bell cost 9.8 million pounds, 60 percent funded by an Isles Transport Fund grant."),
    (FL0, "What is the service speed of the MV Saltmarrow?", "The MV Saltmarrow has a service speed of 11 knots."),
    (FL0, "How long is the MV Gullwing?", "The MV Gullwing is 19.8 m long."),
    (FL0, "What size of parcels does the Gullwing carry to Little Skaith?", "The Gullwing carries parcels of up to 25 kg each to Little Skaith."),
    (FL0, "When did the MV Brannoch Lass leave service?", "The MV Brannoch Lass was retired in 1989 and broken up in 1990."),
    (FL1, "What happened to the MV Kestrel?", "The MV Kestrel was sold in 2021 to a diving school."),
    (FL1, "How long is the Gullwing's refit?", "The Gullwing's refit is in November and lasts two weeks."),
    (H0, "When did the Essary Steam Packet Company withdraw its service?", "The Essary Steam Packet Company withdrew its service on 30 November 1961."),
    (H0, "Who was the first chair of the cooperative?", "Morag Innesley, a shopkeeper from Kellimore, was the first chair."),
    (H0, "How many people met on 14 March 1962?", "41 islanders and Port Essary traders met on 14 March 1962 at the Mariners' Institute."),
    (H0, "How much did the MV Brannoch Lass cost?", "The cooperative bought the MV Brannoch Lass for £6,800 in May 1962."),
    (H0, "When did Scarth Pier open?", "Scarth Pier opened in 1968 on the west side of Kellimore."),
    (H0, "How many passengers did the cooperative carry in 2023?", "In 2023 the cooperative carried a record 412,600 passengers."),
    (H0, "Who built the MV Corrie Dawn?", "The MV Corrie Dawn was built by Malden & Rusk at Greyhaven."),
    (R0, "How long is the Route 1 crossing?", "The Route 1 crossing takes 55 minutes over 14.2 nautical miles."),
    (R0, "How far apart are Scarth Pier and Tolvane Slip?", "Scarth Pier and Tolvane Slip are 9 kilometres apart on Kellimore."),
    (R0, "How many Route 1 sailings run each way a day in summer?", "In summer there are 8 sailings each way a day on Route 1."),
    (R0, "When does the last winter sailing from Port Essary arrive at Kellimore?", "The 18:30 from Port Essary arrives at Kellimore at 19:25."),
    (R1, "How long does the Gullwing wait off Little Skaith when the steps are unsafe?", "The Gullwing waits off the island for up to 30 minutes and then returns to Orrin Bay."),
    (R1, "When does the Gullwing leave Port Essary on Route 4 days?", "On Route 4 days the Gullwing leaves Port Essary empty at 08:30."),
    (R1, "Do ferries run on 25 December?", "No ferries run on 25 December."),
    (I0, "How many sailings did the January 2023 gale cancel?", "The gale of 16 to 18 January 2023 cancelled 41 sailings."),
    (I0, "What failed on the Saltmarrow on 27 February 2023?", "A hydraulic hose on the bow ramp failed while the Saltmarrow was at Orrin Bay."),
    (I0, "At what temperature did the Heather Bell's battery room alarm sound?", "The battery room thermal alarm sounded at 56 degrees Celsius."),
    (I0, "How close did the Corrie Dawn come to the yacht in fog?", "The closest distance was about 80 metres."),
    (S0, "What wind stops the Gullwing sailing?", "The Gullwing does not sail at wind of force 6 or more, or waves over 2.0 m."),
    (S0, "What is the certified capacity of the Saltmarrow?", "The Saltmarrow's certified capacity is 150 passengers."),
    (S0, "By when is the decision on the first sailing of the day made?", "The decision on the first sailing is made by 06:15."),
    (S0, "How much fuel may a vehicle carry in portable containers?", "At most 10 litres of fuel, in approved containers, in the boot."),
    (S1, "Within how long must a fire alarm be reported?", "A fire alarm must be reported on form SR-4 within 24 hours, to the Marine Superintendent."),
    (HB0, "How many people does the cooperative employ?", "The cooperative employs 62 people: 48 permanent staff and 14 seasonal staff."),
    (HB0, "How long may a working day on board last?", "A working day on board is never longer than 12 hours."),
    (HB0, "How many hours a week do shore staff work?", "Shore staff work 37.5 hours a week, usually in shifts of 7.5 hours."),
    (HB0, "How many crew does the Gullwing sail with?", "The Gullwing sails with a crew of three."),
]

# Facts of different sentences glued together wrongly: every figure and name is in the chunk.
GLUED = [
    (F0, "What is the difference between a senior and a child fare?", "A senior fare is 10 percent more than a child fare."),
    (F0, "What does the Islander card cost?", "The Islander card costs £75.00 and is valid for 12 months."),
    (F0, "How much is a bicycle on Route 4?", "A bicycle costs £2.00 on Route 4."),
    (F0, "What do children under 5 pay on Route 1?", "Children under 5 pay £4.70 on Route 1."),
    (F1, "What refund is given for a no-show?", "A no-show gets a full refund within 10 working days."),
    (F1, "When must vehicle spaces be booked?", "Vehicle spaces must be booked 90 days before departure."),
    (FL0, "How many passengers can the MV Heather Bell carry?", "The MV Heather Bell carries 220 passengers."),
    (FL0, "Who built the MV Gullwing?", "The MV Gullwing was built by Malden & Rusk in Greyhaven."),
    (H0, "When did the Orrin Star enter service?", "The MV Orrin Star entered service in 1987."),
    (H0, "Who was the first chair of the cooperative?", "Morag Innesley of Pellow Boatworks was the first chair."),
    (R0, "How long is the Route 2 crossing?", "The Route 2 crossing takes 55 minutes."),
    (I0, "What happened on the Heather Bell on 21 March 2023?", "The battery room alarm sounded at 56 degrees Celsius on 21 March 2023."),
    (S0, "What is the certified capacity of the Gullwing?", "The Gullwing's certified capacity is 220 passengers."),
    (HB0, "How long is the rest between two working days?", "Between two working days crews rest at least 12 hours."),
]

# The one-shot example of templates/qa.json talks about "Brindle Point"; none of the corpus does.
EXAMPLE_LEAK = [
    (FL0, "What is the current fleet of Brindle Point?", "The current fleet is the MV Corrie Dawn, the MV Heather Bell, the MV Saltmarrow and the MV Gullwing."),
    (H0, "When was the Brindle Point tide gauge installed?", "The Brindle Point tide gauge was installed in 1964."),
    (S0, "When is a flood warning issued at Port Essary?", "A flood warning is issued for the lower quay at Brindle Point when waves are over 2.0 m."),
    (R0, "Where does Route 1 leave from?", "Route 1 leaves from Brindle Point for Kellimore."),
]

# The pairs qagen kept from the small model's real replies, labelled by hand (all wrong; why in "note").
MODEL = [
    (FL0, "What is the current fleet of Brindle Point?", "MV Brannoch Lass", "Brindle Point is the example's; the Brannoch Lass is retired"),
    (F1, "When can I cancel a booking?", "Cancellation is limited to 24 hours before departure, and you may choose to make a full refund or transfer to another sailing within 30 days.", "cancelling is not limited; the 30-day choice is for sailings the cooperative cancels"),
    (F1, "What's the difference between a cancellation and a refund?", "A cancellation only allows for a refund of any amount. A refund is paid by the original card within 10 working days, but you can choose to make a full refund or transfer to another sailing within 30 days.", "invented rule; the choice is for cancelled sailings"),
    (F1, "What's the difference between a refund and a free transfer?", "A refund only allows for a refund of any amount. A free transfer is paid by the original card within 10 working days, but you can choose to make a full refund or transfer to another sailing within 30 days.", "a transfer is not paid to a card"),
    (I0, "What is the most recent incident involving a deckhand on the ship?", "The 2023-11-08 Incident with a deckhand in the 4th of July, 2023", "no such incident or date"),
    (I0, "How did the ship's captain respond to the incident?", "Captain Scott responded by saying, 'I'm sorry, sir. I can't do that.' He said, 'You're not allowed to talk about it. You're a sailor. You've got your own story.'", "invented"),
    (F0, "What is the difference between a senior and a child fare?", "A senior fare is 10% more than a child fare, but it does not include any other fares.", "both are half the adult fare; 10 is from the 10-journey carnet"),
    (S1, "What is the purpose of reporting a fire alarm on the ship's incident log?", "Reporting a fire alarm helps in preventing fires from spreading and keeps the ship safe.", "the rules give another reason (showing where the next accident would happen)"),
    (HB0, "What is the maximum number of hours a ship can be crewed in?", "The maximum number of hours a ship can be crewed in is 20, with a maximum of 30 hours. The minimum is 15.", "a working day is at most 12 hours"),
    (F1, "When can I change a vehicle?", "You cannot change a vehicle within 24 hours of departure, and you must do it by appointment before your next sailing.", "changes within 48 hours cost £5.00; nothing about appointments"),
    (F1, "What is the maximum amount to charge for a vehicle?", "The maximum amount to charge for a vehicle is £10.50 per month (including VAT), but there are no limits on the number of vehicles that can be charged, as long as they have 24 hours' notice and you cannot change them within 3 days.", "invented figures"),
    (F1, "How many times can I check-in?", "You can check-in up to three times before your next sailing. You must do it by appointment before your next sailing, but you may use a flight or cruise coach for checking-in on the last day of your voyage.", "invented"),
    (F1, "How many times can I check-out?", "The maximum number of times you can check-out is 10, but you may use a flight or cruise coach for checking-out on the last day of your voyage.", "invented"),
    (HB0, "What is the difference between a duty and a captain's role?", "A duty is an obligation to do something, while a captain's role is one of being in charge of your crew. A captain can also be a member of the crew or an officer who has authority over them.", "outside knowledge, not the handbook"),
    (R1, "What is the route 3 to Port Essary?", "Tuesdays, Thursdays and Saturdays are all year round except on Tuesdays.", "contradicts itself; not what the route is"),
]

_NUMBER = re.compile(r"(?<![\w.£-])£?\d+(?:[.,:]\d+)*(?![\w-])")
# The corpus's names, by kind: a name is swapped only for another of its kind found in the chunk.
NAMES = {
    "vessel": ["Corrie Dawn", "Heather Bell", "Saltmarrow", "Gullwing", "Brannoch Lass", "Orrin Star", "Kestrel"],
    "place": ["Port Essary", "Kellimore", "Orrin Bay", "Little Skaith", "Fennick Holm", "Scarth Pier", "Tolvane Slip",
              "Harbour House", "Greyhaven", "Kalvik"],
    "body": ["Marine Superintendent", "Duty Office", "Operations Manager", "Malden & Rusk", "Ostrand Marine",
             "Pellow Boatworks", "Essary Steam Packet Company", "Isles Transport Fund", "Morag Innesley"],
}


def _chunks() -> dict[tuple[str, int], str]:
    loaded = load_corpus(ROOT / "corpus")
    chunks = split_documents(loaded.documents, counter_for("gpt-4o-mini"), chunk_tokens=800, overlap_tokens=80)
    return {(c.source, c.index): c.text for c in chunks}


def _number_kind(number: str) -> tuple[bool, bool, bool, bool]:
    year = len(number) == 4 and number[:2] in ("19", "20")
    return number.startswith("£"), "." in number, ":" in number, year


def _swap_number(answer: str, chunk: str) -> str | None:
    """``answer`` with its first figure replaced by another figure of the same kind from the chunk."""
    found = _NUMBER.search(answer)
    if found is None:
        return None
    kind = _number_kind(found.group())
    others = sorted({m.group() for m in _NUMBER.finditer(chunk) if _number_kind(m.group()) == kind} - {found.group()})
    if not others:
        return None
    return answer[: found.start()] + others[len(answer) % len(others)] + answer[found.end() :]


def _swap_name(answer: str, chunk: str) -> str | None:
    """``answer`` with its first corpus name replaced by another name of the same kind from the chunk."""
    for names in NAMES.values():
        for name in names:
            at = answer.find(name)
            if at < 0:
                continue
            others = [other for other in names if other != name and other in chunk and other not in answer]
            if others:
                return answer[:at] + others[len(answer) % len(others)] + answer[at + len(name) :]
    return None


# Swaps that stay true (the other value is an equally right answer) are left out by hand.
_STILL_TRUE = {
    "A change made less than 24 hours before departure costs £5.00.",
}


def main() -> int:
    chunks = _chunks()
    rows: list[dict[str, str]] = []

    def add(kind: str, label: str, where: tuple[str, int], question: str, answer: str, note: str = "") -> None:
        rows.append({
            "id": f"{kind}-{sum(1 for r in rows if r['kind'] == kind) + 1}", "kind": kind, "label": label,
            "source": where[0], "question": question, "answer": answer, "note": note, "chunk": chunks[where],
        })

    for where, question, answer in CORRECT:
        add("correct", "right", where, question, answer)
    for where, question, answer in CORRECT:
        for kind, swap in (("swapped_number", _swap_number), ("swapped_name", _swap_name)):
            swapped = swap(answer, chunks[where])
            if swapped and swapped != answer and swapped not in _STILL_TRUE:
                add(kind, "wrong", where, question, swapped, f"from: {answer}")
    for where, question, answer in GLUED:
        add("glued", "wrong", where, question, answer)
    for where, question, answer in EXAMPLE_LEAK:
        add("example_leak", "wrong", where, question, answer)
    for where, question, answer, note in MODEL:
        add("model", "wrong", where, question, answer, note)

    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} pairs written to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
