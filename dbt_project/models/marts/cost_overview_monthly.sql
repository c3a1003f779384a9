{{ cost_mart('cost_overview', 'monthly') }}
