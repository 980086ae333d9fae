from .config import Config, ConfigDict, ConfigError, import_custom_modules, parse_cfg_options

__all__ = ["Config", "ConfigDict", "ConfigError", "import_custom_modules", "parse_cfg_options"]
