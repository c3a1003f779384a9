{{ cost_mart('cost_cube', 'monthly') }}
