"""What every app stands on: errors, pagination, fields, throttles, the realtime publisher."""
