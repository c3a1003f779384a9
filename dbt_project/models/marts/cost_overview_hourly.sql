{{ cost_mart('cost_overview', 'hourly') }}
