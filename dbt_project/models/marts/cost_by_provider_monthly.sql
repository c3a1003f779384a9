{{ cost_mart('cost_by_provider', 'monthly') }}
