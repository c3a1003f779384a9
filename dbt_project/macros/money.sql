{#- Money arithmetic in exact DECIMAL(38,18); never a binary float. -#}

{% macro money_type() -%}
    decimal(38, 18)
{%- endmacro %}

{#-
  The costs of one request (pricing.md): its usage counters (columns prefixed by `usage`, e.g.
  'requests.') at the prices of a catalog row (columns prefixed by `prices`). int_usage_rated
  costs a request with them, provider_alternatives the same request at another provider, so an
  equal price gives an equal cost to the last decimal.
-#}
{% macro request_input_cost(usage='', prices='') -%}
    cast(
        {{ cost_per_million(usage ~ 'input_tokens - ' ~ usage ~ 'cached_input_tokens - ' ~ usage ~ 'cache_write_tokens',
                            prices ~ 'input_per_mtok') }}
        + {{ cost_per_million(usage ~ 'cached_input_tokens', prices ~ 'cached_input_per_mtok') }}
        + {{ cost_per_million(usage ~ 'cache_write_tokens', prices ~ 'cache_write_per_mtok') }}
    as {{ money_type() }})
{%- endmacro %}

{% macro request_output_cost(usage='', prices='') -%}
    {{ cost_per_million(usage ~ 'output_tokens', prices ~ 'output_per_mtok') }}
{%- endmacro %}

{% macro request_other_cost(usage='', prices='') -%}
    cast({{ prices }}per_request + {{ usage }}images * {{ prices }}per_image
         + {{ usage }}web_search_calls * {{ prices }}per_web_search as {{ money_type() }})
{%- endmacro %}

{% macro request_total_cost(usage='', prices='') -%}
    cast({{ request_input_cost(usage, prices) }} + {{ request_output_cost(usage, prices) }}
         + {{ request_other_cost(usage, prices) }} as {{ money_type() }})
{%- endmacro %}

{#- Cost of `quantity` units at `price_per_million` per 1,000,000 units (pricing.md). -#}
{% macro cost_per_million(quantity, price_per_million) -%}
    {{ return(adapter.dispatch('cost_per_million', 'meterline')(quantity, price_per_million)) }}
{%- endmacro %}

{% macro default__cost_per_million(quantity, price_per_million) -%}
    cast(({{ quantity }}) * ({{ price_per_million }}) * 0.000001 as {{ money_type() }})
{%- endmacro %}

{#-
  Spark bounds every DECIMAL result at 38 digits and, by default, gives up
  scale to fit (precision loss). The operands are narrowed so that each
  product fits in 38 digits at full scale, which is exact whatever
  spark.sql.decimalOperations.allowPrecisionLoss says: quantity < 10^15,
  price < 10^10 per million, quantity x price < 10^19. A larger value fails
  the cast (ANSI mode) instead of being rounded.
-#}
{% macro spark__cost_per_million(quantity, price_per_million) -%}
    cast(
        cast(cast({{ quantity }} as decimal(15, 0)) * cast({{ price_per_million }} as decimal(22, 12)) as decimal(31, 12))
        * 0.000001
    as {{ money_type() }})
{%- endmacro %}

{#-
  numerator / denominator as DECIMAL(38,18), rounded half up at 18 places,
  computed on integers (DuckDB divides DECIMALs as DOUBLE). NULL when the
  denominator is 0. Both operands are non-negative.
-#}
{% macro exact_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('exact_divide', 'meterline')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__exact_divide(numerator, denominator) -%}
    {%- set scale = '1000000000000000000' -%}
    {%- set units -%}
        (cast(floor({{ numerator }}) as hugeint) * {{ scale }}
         + cast(({{ numerator }} - floor({{ numerator }})) * {{ scale }} as hugeint))
    {%- endset -%}
    {%- set rounded -%}
        (({{ units }} * 2 + cast({{ denominator }} as hugeint)) // (cast({{ denominator }} as hugeint) * 2))
    {%- endset -%}
    case when {{ denominator }} <> 0 then cast(
        cast({{ rounded }} // {{ scale }} as decimal(38, 0))
        + cast({{ rounded }} % {{ scale }} as decimal(38, 0)) * 0.000000000000000001
    as {{ money_type() }}) end
{%- endmacro %}

{#-
  Spark has no 128-bit integer, and its DECIMAL division rounds at a scale
  of its choosing. The same half-up rounding at 18 places is computed with
  exact integer divisions (`div`, BigDecimal underneath, result a BIGINT):
  units = numerator x 10^18 as an integer; whole = units div (d x 10^18);
  the remainder's share of d, rounded half up, gives the 18 decimals.
  Needs spark.sql.decimalOperations.allowPrecisionLoss=false (set before every
  model by engine_session_settings) for the DECIMAL(38,*) intermediate steps.
-#}
{% macro spark__exact_divide(numerator, denominator) -%}
    {%- set scale = 'cast(1000000000000000000 as decimal(19, 0))' -%}
    {%- set n = 'cast(' ~ numerator ~ ' as decimal(38, 18))' -%}
    {%- set d = 'cast(' ~ denominator ~ ' as decimal(20, 0))' -%}
    {%- set units -%}
        (cast(floor({{ n }}) as decimal(38, 0)) * {{ scale }}
         + cast(({{ n }} - floor({{ n }})) * {{ scale }} as decimal(38, 0)))
    {%- endset -%}
    {%- set whole -%}
        ({{ units }} div ({{ d }} * {{ scale }}))
    {%- endset -%}
    {%- set remainder -%}
        ({{ units }} - cast({{ whole }} as decimal(38, 0)) * ({{ d }} * {{ scale }}))
    {%- endset -%}
    case when {{ denominator }} <> 0 then cast(
        cast({{ whole }} as decimal(19, 0))
        + cast(cast((({{ remainder }}) * 2 + {{ d }}) div ({{ d }} * 2) as decimal(19, 0))
               * 0.000000000000000001 as decimal(19, 18))
    as {{ money_type() }}) end
{%- endmacro %}
