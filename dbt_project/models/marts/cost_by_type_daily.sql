{{ cost_mart('cost_by_type', 'daily') }}
