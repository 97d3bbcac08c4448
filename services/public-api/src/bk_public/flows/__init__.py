"""The public-api's data work, one module per route area: the routes in ``bk_public.api`` validate,
authorise, call one function here and shape the answer; every SQL statement lives here."""
