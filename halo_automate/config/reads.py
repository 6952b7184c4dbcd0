"""The ``reads:`` section: incremental scheduled runs and the request budget warning (issue 15).

```yaml
reads:
  incremental: true          # scheduled runs read only tickets updated since their last read
  full_sweep: daily          # and read everything this often (always, hourly, daily, weekly,
                             # never, or a duration such as 6h); a playbook may set its own
  skew_seconds: 120          # re-read this much before the watermark (clock skew)
  budget_warn_share: 0.5     # validate / the daemon warn when schedules use more of the budget
```

docs/incremental.md says how the three together keep scheduled runs correct.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from halo_automate.config.halo import _Model
from halo_automate.core.incremental import parse_sweep


class ReadsSettings(_Model):
    """How scheduled runs read tickets, and when their estimated budget use warns."""

    incremental: bool = True
    full_sweep: str = "daily"
    skew_seconds: float = Field(120, ge=0, le=86400, allow_inf_nan=False)
    budget_warn_share: float = Field(0.5, gt=0, le=1, allow_inf_nan=False)

    @field_validator("full_sweep")
    @classmethod
    def _check_sweep(cls, value: str) -> str:
        parse_sweep(value)  # a ValueError names the accepted forms
        return value
