"""Organisation: departments, crews, vehicles and their specialties."""
