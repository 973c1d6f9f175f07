"""The organisation: regions, districts and schools, members and their scopes, invites."""
