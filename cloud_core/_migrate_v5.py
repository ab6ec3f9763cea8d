"""Migration 5: the policy engine's state and the operators' overrides, and what it steers by.

- ``policies``: one row per (tenant, scope, key) — scope ``tenant`` (key ''), ``group`` (key: a
  device-id pattern, shell glob) or ``device`` (key: the device id). ``fields`` (JSON object,
  field name -> number) holds the values in force at that scope; ``pinned`` names the fields an
  operator set there (``binhai policy set``), which the engine never changes; the other fields
  of a device row are the engine's. ``version`` is the device's policy version (device rows) or
  a change counter (tenant and group rows).
- ``summaries.novel``: the windows a summary stands for that were novel (the flag rate the
  engine steers each device's novelty threshold by).
- ``device_health.policy_version``: the policy version the device runs (conformance), and
  ``device_health.uplink``: the device's uplink (``windows`` or ``synergy``; the engine steers
  the flag rate of synergy devices only).
"""

from __future__ import annotations

import psycopg

from cloud_core._capabilities import Capabilities

__all__ = ["v5_policies"]

_DDL = """
CREATE TABLE policies (
    tenant     text NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('tenant', 'group', 'device')),
    key        text NOT NULL,
    fields     jsonb NOT NULL DEFAULT '{}',
    pinned     text[] NOT NULL DEFAULT '{}',
    version    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, scope, key)
);
ALTER TABLE summaries ADD COLUMN novel bigint NOT NULL DEFAULT 0;
ALTER TABLE device_health ADD COLUMN policy_version bigint, ADD COLUMN uplink text;
"""


async def v5_policies(conn: psycopg.AsyncConnection, caps: Capabilities) -> None:
    await conn.execute(_DDL)
