"""What starts runs by itself: the nightly schedule and the late-files sensor."""
