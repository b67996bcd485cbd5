"""``NamespaceTemplate.settings_for``: which ``config["configurable"]`` values fill a template
into a given namespace (the jobs to cancel before erasing it)."""

from __future__ import annotations

import pytest

from reverie.core.errors import NamespaceError
from reverie.core.namespace import NamespaceTemplate

PER_USER = NamespaceTemplate(("memories", "{langgraph_user_id}"))


def test_the_settings_that_fill_a_template_into_a_namespace() -> None:
    assert PER_USER.settings_for(("memories", "ana")) == {"langgraph_user_id": "ana"}
    template = NamespaceTemplate(("chats", "org-{org}", "{user}"))
    filled = template({"configurable": {"org": "acme", "user": "bo"}})
    assert template.settings_for(filled) == {"org": "acme", "user": "bo"}


def test_a_namespace_the_template_never_fills_has_no_settings() -> None:
    assert PER_USER.settings_for(("notes", "ana")) is None
    assert PER_USER.settings_for(("memories",)) is None
    assert PER_USER.settings_for(("memories", "ana", "work"), descendants=True) is None
    same_twice = NamespaceTemplate(("m", "{u}", "copy-{u}"))
    assert same_twice.settings_for(("m", "ana", "copy-bo")) is None
    assert same_twice.settings_for(("m", "ana", "copy-ana")) == {"u": "ana"}


def test_with_descendants_a_prefix_pins_only_its_own_labels() -> None:
    template = NamespaceTemplate(("chats", "{org}", "{user}"))
    assert template.settings_for(("chats", "acme"), descendants=True) == {"org": "acme"}
    assert PER_USER.settings_for(("memories",), descendants=True) == {}


def test_a_label_with_two_variables_cannot_be_read_back() -> None:
    with pytest.raises(NamespaceError, match="cannot be read back"):
        NamespaceTemplate(("m", "{org}-{user}")).settings_for(("m", "a-b-c"))
