"""Playbook actions: one module per kind behind one protocol (:mod:`.base`), found by
:mod:`.registry`. Adding a kind is one module here plus its section in docs/playbooks.md."""
