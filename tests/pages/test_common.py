"""What every page shares: user text escaped so Streamlit's Markdown shows it as it is."""

from __future__ import annotations

import pytest

from pages.common import plain
from tests.pages.conftest import rendered
from tests.support import factories


@pytest.mark.parametrize(
    "text",
    [
        "![t](http://host/x.png)",
        "[click](javascript:alert(1))",
        "**bold** _it_ `code` ~~x~~",
        ":red[alarm] :material/warning: $x^2$",
        "# heading\n- item\n> quote",
        "<img src=x onerror=alert(1)>",
        "C:\\path\\file.xlsx",
        "Ærø Ålesund",
    ],
)
def test_plain_escapes_every_markdown_sign_and_shows_the_text_back(text):
    escaped = plain(text)
    for sign in "![]()*_`~:$#<>":
        assert f"\\{sign}" in escaped or sign not in text
    assert "\n" not in escaped
    assert rendered(escaped) == " ".join(text.split())


def test_a_file_and_company_named_like_markdown_are_shown_as_text(open_app, app_db):
    name = "![t](http://127.0.0.1:9/x.png).xlsx"
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        factories.job(s, ana, {"**Bold** [x](http://e.com)": 2}, file_name=name)
    at = open_app(ana, "pages/task_manager.py")
    sources = " ".join(m.value for m in at.markdown)
    assert "![t](" not in sources and "[x](" not in sources and "**Bold**" not in sources
    assert name in " ".join(rendered(m.value) for m in at.markdown)
