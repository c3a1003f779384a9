{{ cost_mart('cost_by_model', 'hourly') }}
