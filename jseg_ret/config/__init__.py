from .config import Config, ConfigDict, ConfigError, parse_cfg_options

__all__ = ["Config", "ConfigDict", "ConfigError", "parse_cfg_options"]
