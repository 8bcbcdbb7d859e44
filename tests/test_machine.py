"""The compiled machine: a lookup table of candidates; it leaves the process's logging alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pathway


def test_importing_and_firing_leave_the_transitions_logger_alone() -> None:
    """No level is set on the ``transitions`` logger (process-wide) by importing or firing; with
    the root logger at DEBUG, evaluating and firing log nothing from ``transitions``."""
    code = textwrap.dedent(
        """
        import logging
        records = []
        class Keep(logging.Handler):
            def emit(self, record):
                records.append(record.name)
        logging.basicConfig(level=logging.DEBUG)
        logging.getLogger().addHandler(Keep())
        from datetime import UTC, datetime
        import pathway
        from pathway import Actor, Engine, open_store
        compiled = pathway.load_pathway("barnet-enablement")
        built = len(records)
        engine = Engine(compiled, open_store(":memory:"))
        at = datetime(2026, 1, 5, 9, tzinfo=UTC)
        actor = Actor("w1", "hub")
        engine.open_case("C1", actor, at)
        case = engine.store.case("C1")
        triggers = compiled.machine.triggers_from(case.state)
        assert triggers
        for trigger in triggers:
            compiled.machine.evaluate(case, trigger, actor, at, {})
        engine.fire("C1", triggers[0], actor, at)
        print(logging.getLogger("transitions").level, built,
              sorted({n for n in records[built:] if n.startswith("transitions")}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    level, _built, logged = done.stdout.split(maxsplit=2)
    assert level == str(0)  # NOTSET: the host application's configuration decides
    assert logged.strip() == "[]"


def test_candidates_follow_the_definition_order() -> None:
    """Each trigger's candidates from a state are its transitions from there, in the order the
    definition lists them (a return: once per place it may go back to, or not at all)."""
    compiled = pathway.load_pathway("barnet-enablement")
    machine = compiled.machine
    seen = 0
    for state in compiled.states:
        for trigger in compiled.triggers:
            listed = [id(c.transition) for c in machine.candidates(trigger, state)]
            expected = [
                id(u) for u in compiled.transitions if u.trigger == trigger and state in u.sources
            ]
            assert list(dict.fromkeys(listed)) == [i for i in expected if i in listed]
            assert set(expected) - set(listed) <= {id(u) for u in compiled.transitions if u.returns}
            assert (trigger in machine.triggers_from(state)) == bool(listed)
            seen += len(listed)
    assert seen >= len(compiled.transitions)
