{{ provider_alternatives('daily') }}
