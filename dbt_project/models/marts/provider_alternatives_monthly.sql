{{ provider_alternatives('monthly') }}
