"""The guards every pathway can use, in one registry.

:data:`BUILTIN_GUARDS` holds the general guards (:data:`pathway.guards.GENERAL_GUARDS`: who may
act, required data, time limits, states, dates, section 117 and safeguarding) and the funding
rules (:data:`pathway.funding_guards.FUNDING_GUARDS`). The definition loader checks a pathway's
guards against it; plug-ins extend a copy (:meth:`~pathway.guards.GuardRegistry.copy`).
"""

from __future__ import annotations

from .funding_guards import FUNDING_GUARDS
from .guards import GENERAL_GUARDS, GuardRegistry

BUILTIN_GUARDS = GuardRegistry([*GENERAL_GUARDS, *FUNDING_GUARDS])
"""The guards every pathway can use."""
