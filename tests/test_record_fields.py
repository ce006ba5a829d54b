"""``as_fields`` gives what ``dataclasses.asdict`` gives for the records written to every output line."""

from dataclasses import asdict

from qagen.records import Completion, Pair, Rejection, as_fields


def test_as_fields_equals_asdict_for_each_record_written():
    records = [
        Pair("p1", "What is the fare?", "£4.50.", "fares.md", "c1", "grounded", 3, "Fares > Adults"),
        Pair("p2", "Who wrote it?", "I don't know.", "fares.md", "c1", kind="idk"),
        Rejection("check", "not_grounded", "The answer is not in its chunk.", raw="x", source="a.md", chunk_id="c", pair_id="p", page=2),
        Rejection("load", "binary"),
        Completion("text", "stop", 10, 2, cached_tokens=4, billed=False),
    ]
    for record in records:
        fields = as_fields(record)
        assert fields == asdict(record)
        assert list(fields) == list(asdict(record))  # same order, so the same JSON line
