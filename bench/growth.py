"""Growth: wall time of a whole ``probity run`` against contracts of 50, 100 and 200 operations.

For each size the benchmark generates, in a temporary folder, a target that a full run works on: an OpenAPI
contract of CRUD resources (five operations each), the DDL and seed of one tenant-scoped table per resource
(two tenants, three rows each), a policy naming the tenant column, two principals with static tokens, and a
backend serving exactly that contract (``growth_app.py``, one generic Starlette app over PostgreSQL that carries
traceparents into SQL). Probity then runs on each size with the same seed and budget, the sizes alternating
across rounds so a slower moment of the machine is shared by all of them. A least-squares line through
(operations, seconds) gives the slope, seconds per operation; linearity is its R² and the ratio of the time
per operation at the largest size to that at the smallest.

    .venv/bin/python bench/growth.py [--sizes 50,100,200] [--rounds 2] [--max-examples 2]
                                     [--phases examples,coverage] [--seed 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "add_budget_arguments",
    "budget",
    "fit_line",
    "generate_target",
    "growth_env",
    "main",
    "run_probity",
    "workspace",
]

ROOT = Path(__file__).resolve().parents[1]
APP = Path(__file__).resolve().parent / "growth_app.py"
PROBITY = str(Path(sys.executable).parent / "probity")
OPERATIONS_PER_RESOURCE = 5
TENANTS = {"alpha": "11111111-1111-4111-8111-111111111111", "beta": "22222222-2222-4222-8222-222222222222"}
ROWS_PER_TENANT = 3


# -- the generated target -------------------------------------------------------------------------------------


def _resources(operations: int) -> list[str]:
    if operations % OPERATIONS_PER_RESOURCE:
        raise SystemExit(f"sizes must be multiples of {OPERATIONS_PER_RESOURCE} operations, not {operations}")
    return [f"r{index:03d}" for index in range(1, operations // OPERATIONS_PER_RESOURCE + 1)]


def _ddl(resources: list[str]) -> str:
    return "".join(
        f"CREATE TABLE {table} (id uuid PRIMARY KEY, organization_id uuid NOT NULL, name text NOT NULL, "
        f"created_at timestamptz NOT NULL DEFAULT now());\nCREATE INDEX ON {table} (organization_id, created_at);\n"
        for table in resources
    )


def _seed(resources: list[str]) -> str:
    rows = []
    for table in resources:
        for tenant, org in TENANTS.items():
            for row in range(ROWS_PER_TENANT):
                item = _row_id(table, tenant, row)
                rows.append(
                    f"INSERT INTO {table} (id, organization_id, name) VALUES ('{item}', '{org}', '{tenant} {row}');"
                )
    return "\n".join(rows) + "\n"


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _json(description: str, name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


_REFUSED = {"401": _error("no valid bearer token"), "422": _error("the request is malformed")}


def _row_id(table: str, tenant: str, row: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"growth/{table}/{tenant}/{row}"))


def _paths(table: str) -> dict[str, Any]:
    # The example is a seeded row of the first tenant, so the examples phase reads a real object.
    example = _row_id(table, next(iter(TENANTS)), 0)
    item_id = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"},
               "example": example}  # fmt: skip
    page = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000000}},
    ]
    missing = {"404": _error("no such item in the caller's organization")}
    return {
        f"/{table}": {
            "get": {"operationId": f"list_{table}", "parameters": page, "x-paginated": True,
                    "responses": {"200": _json("a page", "ItemPage"), **_REFUSED}},
            "post": {"operationId": f"create_{table}", "requestBody": _body("NewItem"),
                     "responses": {"201": _json("created", "Item"), **_REFUSED}},
        },
        f"/{table}/{{item_id}}": {
            "parameters": [item_id],
            "get": {"operationId": f"read_{table}",
                    "responses": {"200": _json("the item", "Item"), **missing, **_REFUSED}},
            "patch": {"operationId": f"update_{table}", "requestBody": _body("ItemChange"),
                      "responses": {"200": _json("the item", "Item"), **missing, **_REFUSED}},
            "delete": {"operationId": f"delete_{table}",
                       "responses": {"204": {"description": "deleted"}, **missing, **_REFUSED}},
        },
    }  # fmt: skip


def _schemas() -> dict[str, Any]:
    name = {"type": "string", "minLength": 1, "maxLength": 100}
    item = {
        "type": "object",
        "required": ["id", "name", "created_at"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                       "created_at": {"type": "string", "format": "date-time"}},
    }  # fmt: skip
    page = {
        "type": "object",
        "required": ["items", "limit", "offset"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                       "limit": {"type": "integer"}, "offset": {"type": "integer"}},
    }  # fmt: skip
    return {
        "Item": item,
        "ItemPage": page,
        "NewItem": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": name},
            "additionalProperties": False,
        },
        "ItemChange": {"type": "object", "properties": {"name": name}, "additionalProperties": False},
        "Error": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}},
    }


def _contract(resources: list[str]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for table in resources:
        paths.update(_paths(table))
    return {
        "openapi": "3.1.0",
        "info": {"title": f"growth {len(resources) * OPERATIONS_PER_RESOURCE}", "version": "1"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _principals(tokens: dict[str, str]) -> dict[str, Any]:
    return {
        "principals": [
            {"name": f"{tenant}_admin", "tenant": tenant, "role": "ADMIN", "privileged": True,
             "attributes": {"organization_id": org}, "token": {"env": f"GROWTH_TOKEN_{tenant.upper()}"}}
            for tenant, org in TENANTS.items()
        ]
    }  # fmt: skip


def _policy(resources: list[str]) -> dict[str, Any]:
    scope = {"name": "organization", "column": "organization_id", "attribute": "organization_id", "tables": resources}
    return {
        "version": 1,
        "tenancy": {"scopes": [scope]},
        "pagination": {"limit_param": "limit", "offset_param": "offset", "default_limit": 20, "max_limit": 100},
    }


def _target(size: int) -> dict[str, Any]:
    return {
        "name": f"growth{size}",
        "contract": "openapi.yaml",
        "policy": "policy.yaml",
        "principals": "principals.yaml",
        "allow_writes_to": ["127.0.0.1"],
        "database": {"name": "growth", "app_role": "growth_app", "ddl": "schema.sql", "seed": "seed.sql"},
        "backend": {
            "command": ["{python}", str(APP), "spec.json"],
            "cwd": ".",
            "env": {"GROWTH_DATABASE_URL": "{database_url}", "GROWTH_HOST": "{host}", "GROWTH_PORT": "{port}",
                    "GROWTH_SQLCOMMENTER": "{sqlcommenter}"},
            "health_path": "/health",
            "openapi_path": "/openapi.json",
        },
    }  # fmt: skip


def generate_target(operations: int, folder: Path, tokens: dict[str, str]) -> Path:
    """Write a target of *operations* operations into *folder*; return its target file."""
    resources = _resources(operations)
    folder.mkdir(parents=True, exist_ok=True)
    tokens_to_orgs = {token: TENANTS[tenant] for tenant, token in tokens.items()}
    spec = {"resources": resources, "tokens": tokens_to_orgs, "openapi": _contract(resources)}
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    (folder / "schema.sql").write_text(_ddl(resources), encoding="utf-8")
    (folder / "seed.sql").write_text(_seed(resources), encoding="utf-8")
    documents = {
        "openapi.yaml": _contract(resources),
        "policy.yaml": _policy(resources),
        "principals.yaml": _principals(tokens),
        "target.yaml": _target(operations),
    }
    for name, document in documents.items():
        (folder / name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return folder / "target.yaml"


# -- measuring ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    operations: int
    seconds: float
    counts: dict[str, int]
    exit_code: int


def _run(target: Path, args: argparse.Namespace, env: dict[str, str]) -> Sample:
    seconds, exit_code = run_probity(["run", "--target", str(target), *budget(args)], env)
    findings = json.loads((Path(env["PROBITY_REPORTS_DIR"]) / "latest" / "findings.json").read_text("utf-8"))
    operations = len(findings["run"]["operations"])
    return Sample(operations, seconds, findings["run"]["counts"], exit_code)


def run_probity(arguments: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and exit code of ``probity ARGUMENTS``; stops the benchmark on a harness error (exit 2 or 3)."""
    started = time.perf_counter()
    done = subprocess.run([PROBITY, *arguments], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: a failing finding, a verdict, not a harness error
        raise SystemExit(
            f"probity {arguments[0]} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return seconds, done.returncode


def budget(args: argparse.Namespace) -> list[str]:
    """The ``probity run`` options of the budget every benchmark run shares (see :func:`add_budget_arguments`)."""
    return ["--seed", str(args.seed), "--max-examples", str(args.max_examples), "--phases", args.phases,
            "--max-inconclusive", "100%"]  # fmt: skip


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """Rounds, the run's budget, and whether to keep the generated targets: what the target benchmarks share."""
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-examples", type=int, default=2)
    parser.add_argument("--phases", default="examples,coverage")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the generated targets and reports")


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least squares through *points*: (intercept, slope, R²).

    >>> fit_line([(1, 3), (2, 5), (3, 7)])
    (1.0, 2.0, 1.0)
    """
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for _, y in points)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in points)
    return round(intercept, 6), round(slope, 6), round(1 - residual / total if total else 1.0, 6)


def _measure(args: argparse.Namespace, workdir: Path) -> list[Sample]:
    tokens, env = growth_env(workdir)
    targets = {size: generate_target(size, workdir / f"ops{size}", tokens) for size in args.sizes}
    samples = []
    for round_index in range(args.rounds):
        shift = round_index % len(args.sizes)
        for size in args.sizes[shift:] + args.sizes[:shift]:  # the order rotates: no size always runs first
            sample = _run(targets[size], args, env)
            print(
                f"round {round_index + 1}: {sample.operations:>4} operations {sample.seconds:7.1f} s  {sample.counts}"
            )
            samples.append(sample)
    return samples


def _report(samples: list[Sample], args: argparse.Namespace) -> None:
    median = {size: statistics.median([s.seconds for s in samples if s.operations == size]) for size in args.sizes}
    # The line through the medians: a sample slowed by another process on the machine moves no median.
    intercept, slope, r2 = fit_line(list(median.items()))
    print(f"\n{'operations':>10} {'median s':>9} {'s/op':>6} {'vs line':>8}")
    for size, seconds in median.items():
        print(f"{size:>10} {seconds:>9.1f} {seconds / size:>6.2f} {seconds / (intercept + slope * size):>8.2f}")
    print(f"\nslope {slope:.3f} s per operation, intercept {intercept:.1f} s, R² {r2:.4f} (through the medians)")
    every = fit_line([(s.operations, s.seconds) for s in samples])
    print(f"through every sample: slope {every[1]:.3f} s per operation, R² {every[2]:.4f} (spread: other load)")
    small, large = min(args.sizes), max(args.sizes)
    ratio = (median[large] / large) / (median[small] / small)
    print(f"time per operation at {large} vs {small}: {ratio:.2f}×; wall time {median[large] / median[small]:.2f}× "
          f"for {large / small:.0f}× the operations")  # fmt: skip
    print(f"budget: --max-examples {args.max_examples} --phases {args.phases} --seed {args.seed}; {args.rounds} rounds")
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,100,200", help="operation counts (multiples of 5)")
    add_budget_arguments(parser)
    args = parser.parse_args()
    args.sizes = [int(size) for size in args.sizes.split(",")]
    return args


def growth_env(workdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Fresh tokens per tenant, and the environment a run of the generated targets needs (reports in *workdir*)."""
    tokens = {tenant: secrets.token_urlsafe(24) for tenant in TENANTS}
    env = {**os.environ, "PROBITY_REPORTS_DIR": str(workdir / "reports")}
    env |= {f"GROWTH_TOKEN_{tenant.upper()}": token for tenant, token in tokens.items()}
    return tokens, env


@contextmanager
def workspace(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary folder for generated targets and reports, deleted afterwards unless *keep*."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    workdir.chmod(0o755)  # as root, the embedded server runs as another account
    try:
        yield workdir
    finally:
        if keep:
            print(f"generated targets and reports kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    args = _arguments()
    with workspace("probity-growth-", args.keep) as workdir:
        _report(_measure(args, workdir), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
