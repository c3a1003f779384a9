{{ cost_mart('provider_model_details', 'hourly') }}
