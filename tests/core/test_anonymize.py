"""Pseudonyms for recorded fixtures: consistent, domains kept, the playbook's words kept."""

from __future__ import annotations

from halo_automate.core.anonymize import Pseudonymizer, words_of

KEY = b"k" * 32


def test_same_word_same_pseudonym_in_any_field_and_case() -> None:
    p = Pseudonymizer(key=KEY)
    assert p.word("Contoso") == p.word("contoso").capitalize()
    assert p.word("CONTOSO") == p.word("contoso").upper()
    row = p.row({"client_name": "Contoso Ltd", "summary": "Contoso printer"})
    assert row["client_name"].split()[0] == row["summary"].split()[0] != "Contoso"


def test_a_different_key_gives_different_pseudonyms() -> None:
    assert Pseudonymizer(key=KEY).word("Smith") != Pseudonymizer(key=b"x" * 32).word("Smith")


def test_email_local_part_replaced_domain_kept() -> None:
    p = Pseudonymizer(key=KEY)
    row = p.row({"user_email": "ann.smith@contoso.example"})
    local, _, domain = row["user_email"].partition("@")
    assert domain == "contoso.example" and "ann" not in local.lower()
    text = p.text("From ann.smith@contoso.example: call me")
    assert "@contoso.example" in text and "ann" not in text.lower()


def test_playbook_words_digits_and_punctuation_survive() -> None:
    keep = words_of("where:\n  summary: {matches: '^(Automatic reply|Out of Office)'}\n")
    p = Pseudonymizer(keep, key=KEY)
    assert p.text("Automatic reply: away until 12/03 [Alert]").startswith("Automatic reply: ")
    assert "12/03 [" in p.text("Automatic reply: away until 12/03 [Alert]")
    assert p.text("[Alert] Disk 91% on SRV-01").startswith("[")
    assert "91%" in p.text("[Alert] Disk 91% on SRV-01")


def test_ids_dates_statuses_and_non_text_are_kept() -> None:
    p = Pseudonymizer(key=KEY)
    row = {"id": 7, "status_id": 1, "dateoccurred": "2026-11-30T09:00:00Z", "team": "Service Desk",
           "status_name": "New", "agent_id": None, "details": ""}  # fmt: skip
    assert p.row(row) == row
    assert p.value("site_name", "Head Office") != "Head Office"
    assert p.value("reportedby", "Ann Smith") != "Ann Smith"
    assert len(p.replaced) == 4
