{{ cost_mart('cost_cube', 'hourly') }}
