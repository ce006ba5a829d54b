"""Faster ways of making the output files give what the plain ways gave: the plain way is kept here as the reference."""

from __future__ import annotations

import dataclasses
import json

from qagen.pipeline.report import ChunkCoverage, Report


def _report() -> Report:
    required = {f.name: None for f in dataclasses.fields(Report)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    required.update(settings={"chunk_size": 800, "nested": {"list": [1, 2, {"deep": True}]}}, files=[{"source": "a.md", "chunks": 2}],
                    stages={"check": {"in": 3, "out": 2, "dropped": {"ungrounded": 1}}}, warnings=["é\u2028"])
    coverage = [ChunkCoverage(f"id{i}", f"doc{i % 3}.md", i * 7, 3, i % 4, i % 2, i % 5 == 0, "answered" if i % 3 else "resumed",
                              page=i if i % 2 else None, section="Fares > Adult" if i % 3 else None) for i in range(50)]
    return Report(**required, cost={"spent": 0.0, "cap": None}, coverage=coverage, stage_cpu_seconds={"read": 1.5})


def test_report_to_dict_is_asdict() -> None:
    report = _report()
    fast, reference = report.to_dict(), dataclasses.asdict(report)
    assert fast == reference
    assert list(fast) == list(reference)  # the same key order: report.json is written in it
    assert json.dumps(fast, indent=2, ensure_ascii=False) == json.dumps(reference, indent=2, ensure_ascii=False)
    fast["settings"]["nested"]["list"].append(3)  # a copy, as asdict gives: the report itself is unchanged
    assert report.settings["nested"]["list"] == [1, 2, {"deep": True}]


def test_script_json_escapes_as_one_pattern_did() -> None:
    import re

    from qagen.review.page import script_json

    unsafe = re.compile("[<>&\u2028\u2029\ud800-\udfff]")  # the one pattern script_json used to substitute

    def reference(value: object) -> str:
        return unsafe.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    values = ["", "plain", "</script><!-- & &amp; <<>>", "line\u2028sep\u2029para", "lone \ud800 and \udfff surrogates",
              {"a<b": ["x & y", 1, None, {"\u2028": "\ud83d"}]}, "already \\u003c escaped", "é 東京 🚢 \x85"]
    for value in values:
        assert script_json(value) == reference(value)


def test_json_line_is_what_the_two_patterns_made() -> None:
    import re

    from qagen.outfolder.lines import json_line, without_surrogates

    line_breaks, surrogate = re.compile("[\u2028\u2029\x85]"), re.compile("[\ud800-\udfff]")  # the patterns run on every line before

    def reference(value: object) -> str:
        text = line_breaks.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))
        return surrogate.sub("\ufffd", text)

    values = ["", "plain ascii", "é 東京 🚢", "a\u2028b\u2029c\x85d", "lone \ud800 and \udfff", {"k\x85": ["\ud83d\u2028", 1.5, None]},
              "\ud83d\ude80 a pair of surrogates is two lone ones here", "\\u2028 already escaped"]
    for value in values:
        assert json_line(value) == reference(value)
        if isinstance(value, str):
            assert without_surrogates(value) == surrogate.sub("\ufffd", value)
