"""Built-in card profiles (TOML), loaded by :mod:`cardspec.profile`."""
