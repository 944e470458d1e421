"""``modelrelay approve|deny EXECUTION``: answer the manual gate a staged promotion waits at.

The gate's task token is in the state table (``gate#<execution>``, written by the StageStep function when the
``.waitForTaskToken`` task started); approving sends ``SendTaskSuccess``, denying ``SendTaskFailure`` with error
``GateDenied`` (the execution then rolls back every stage it reached).
"""

from __future__ import annotations

from typing import Any

from modelrelay.adapters import stepfunctions
from modelrelay.adapters.store import Store
from modelrelay.domain.stages import GATE_DENIED
from modelrelay.errors import GateNotWaiting


def read(dynamodb: Any, table: str, execution: str) -> dict[str, Any] | None:
    """The gate ``execution`` waits at (its token, the stage it waits for, its deadline), or None."""
    return Store(dynamodb, table).read_gate(execution.split(":")[-1])


def answer(
    dynamodb: Any, sfn: Any, table: str, execution: str, approve: bool, by: str, note: str = ""
) -> dict[str, Any]:
    """Approve or deny; raises GateNotWaiting when no gate waits (decided, expired, or none)."""
    name = execution.split(":")[-1]
    store = Store(dynamodb, table)
    gate = store.read_gate(name)
    if gate is None:
        raise GateNotWaiting(f"execution {name} has no manual gate waiting (decided, expired, or none)")
    output = {"approved": True, "by": by, "note": note, "stage": gate.get("awaited_stage")}
    cause = f"denied by {by}" + (f": {note}" if note else "")
    gone = stepfunctions.answer(sfn, str(gate["token"]), output if approve else None, GATE_DENIED, cause)
    if gone:
        store.delete_gate(name)
        raise GateNotWaiting(f"the gate of {name} no longer waits ({gone})")
    return {
        "execution": name,
        "approved": approve,
        "by": by,
        "after_stage": gate.get("after_stage"),
        "awaited_stage": gate.get("awaited_stage"),
        "package_arn": gate.get("package_arn"),
    }
