{#- Money arithmetic in exact DECIMAL(38,18); never a binary float. -#}

{% macro money_type() -%}
    decimal(38, 18)
{%- endmacro %}

{#- Cost of `quantity` units at `price_per_million` per 1,000,000 units (pricing.md). -#}
{% macro cost_per_million(quantity, price_per_million) -%}
    {{ return(adapter.dispatch('cost_per_million', 'meterline')(quantity, price_per_million)) }}
{%- endmacro %}

{% macro default__cost_per_million(quantity, price_per_million) -%}
    cast(({{ quantity }}) * ({{ price_per_million }}) * 0.000001 as {{ money_type() }})
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
