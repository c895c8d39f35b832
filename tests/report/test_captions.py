"""Every report caption renders as reStructuredText without a system message (``|…|`` is substitution
syntax: an unescaped ``|Λ|`` is an "Undefined substitution" error in the rendered report)."""

from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parents[2] / "report"


def system_messages(rst: str) -> list[str]:
    """The messages docutils reports while rendering ``rst`` to HTML, as Snakemake's report does (info
    and above)."""
    import io

    from docutils.core import publish_string

    stream = io.StringIO()
    publish_string(
        rst, writer_name="html", settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": stream}
    )
    return [line for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("caption", sorted(REPORT.glob("*.rst")), ids=lambda p: p.name)
def test_the_caption_renders_without_a_system_message(caption):
    assert system_messages(caption.read_text(encoding="utf-8")) == []


def test_the_check_catches_an_unescaped_bar():
    assert any("Undefined substitution" in m for m in system_messages("the largest |Λ| first"))
    assert system_messages(r"the largest \|Λ\| first") == []
