{{ cost_mart('cost_overview', 'daily') }}
