"""Field inspections and what crews capture on site: meter readings and GPS fixes."""
