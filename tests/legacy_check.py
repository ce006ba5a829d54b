"""Run openai-python 0.28's legacy data checks (`openai tools fine_tunes.prepare_data`) on one JSONL file.

Usage:  python legacy_check.py [--strict] FILE.jsonl

This runs under a separate interpreter that has ``openai==0.28.1`` and pandas installed, so it
must not import qagen. It reads the file and runs every validator in the order prepare_data
uses, applying necessary fixes between validators as prepare_data does (so later validators
see the same table they would there), but it asks no questions and writes no files.

Exit codes:
  0  no validator reported an error or a necessary remediation
  1  some validator did (with --strict: or a legacy convention qagen promises is broken,
     see CONVENTION_VALIDATORS)
  2  bad usage, or the check itself crashed (so a crash is never mistaken for a finding)

The last line of output is ``RESULT <json>``: one entry per remediation, for tests to read.
"""

from __future__ import annotations

import json
import sys
import traceback

# The validators that check the legacy conventions qagen's completion format promises:
# a common separator ending every prompt (and nowhere else in it), a common stop ending
# every completion (and nowhere else in it), a space starting every completion. prepare_data
# treats their findings as optional suggestions; --strict treats them as failures.
CONVENTION_VALIDATORS = frozenset(
    {"common_prompt_suffix_validator", "common_completion_suffix_validator", "completions_space_start_validator"}
)


def validator_label(validator, remediation) -> str:
    """The validator's function name, or for the lambdas prepare_data wraps some in, e.g. `necessary_column(prompt)`."""
    name = getattr(validator, "__name__", "<lambda>")
    if name != "<lambda>":
        return name
    # The lambdas only bind a column name, which is a constant of their code.
    columns = [const for const in validator.__code__.co_consts if isinstance(const, str)]
    return f"{remediation.name}({', '.join(columns)})"


def is_necessary(remediation) -> bool:
    return remediation.error_msg is not None or remediation.necessary_msg is not None or remediation.necessary_fn is not None


def breaks_convention(label: str, remediation) -> bool:
    if label not in CONVENTION_VALIDATORS:
        return False
    # "WARNING: ... contain the suffix ... more than once" comes as an immediate message only.
    return remediation.optional_msg is not None or "WARNING" in (remediation.immediate_msg or "")


def run_checks(path: str) -> list[tuple[str, object]]:
    """(label, remediation) for every validator that had something to say, in prepare_data's order."""
    from openai import validators

    df, read_remediation = validators.read_any_format(path)
    found = [("read_any_format", read_remediation)]
    if read_remediation.error_msg is not None or df is None:
        return found  # prepare_data stops here too: there is no table to check
    for validator in validators.get_validators():
        remediation = validator(df)
        if remediation is None:  # lower_case_validator returns None when all is well
            continue
        found.append((validator_label(validator, remediation), remediation))
        if remediation.error_msg is not None:
            break  # prepare_data aborts at the first error
        if remediation.necessary_fn is not None:
            df = remediation.necessary_fn(df)
    return found


def show(label: str, remediation) -> None:
    fields = ("immediate_msg", "necessary_msg", "optional_msg", "error_msg")
    messages = [(field, getattr(remediation, field)) for field in fields if getattr(remediation, field)]
    if not messages:
        return
    print(f"[{label}]")
    for field, message in messages:
        print(f"  {field}: {message.strip()}")


def main(argv: list[str]) -> int:
    strict = "--strict" in argv
    paths = [arg for arg in argv if arg != "--strict"]
    if len(paths) != 1 or paths[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        found = run_checks(paths[0])
    except Exception:  # a crash must not look like a finding (exit 1)
        traceback.print_exc()
        return 2

    summary = []
    failed = False
    for label, remediation in found:
        show(label, remediation)
        necessary = is_necessary(remediation)
        convention = breaks_convention(label, remediation)
        failed = failed or necessary or (strict and convention)
        summary.append(
            {
                "validator": label,
                "immediate": remediation.immediate_msg,
                "necessary": remediation.necessary_msg,
                "optional": remediation.optional_msg,
                "error": remediation.error_msg,
                "breaks_convention": convention,
            }
        )
    verdict = "FAIL" if failed else "OK"
    print(f"{verdict}: {sum(is_necessary(r) for _, r in found)} necessary, "
          f"{sum(r.optional_msg is not None for _, r in found)} optional remediations"
          f"{' (strict)' if strict else ''}")
    print("RESULT " + json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
