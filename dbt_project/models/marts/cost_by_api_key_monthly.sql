{{ cost_mart('cost_by_api_key', 'monthly') }}
