"""The servers the redirect benchmark compares: bare Granian, our edge, Starlette, nginx."""
