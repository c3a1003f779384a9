{{ cost_mart('cost_cube', 'daily') }}
