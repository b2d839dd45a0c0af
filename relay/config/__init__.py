"""Configuration: frozen settings (settings.py), read from TOML (load.py), shown (render.py)."""

from relay.config.load import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    PASSWORD_ENV,
    ConfigError,
    config_path,
    load,
    parse,
    parse_duration,
    parse_size,
)
from relay.config.render import effective
from relay.config.settings import (
    NOT_IN_FORCE,
    AdminSettings,
    AliasSettings,
    ApiSettings,
    ArchiveSettings,
    AuthSettings,
    ContentSettings,
    DkimSettings,
    DnsSettings,
    Duration,
    LoggingSettings,
    MetricsSettings,
    PolicySettings,
    QueueSettings,
    ServerSettings,
    Settings,
    Size,
    StoreSettings,
    TemplateSettings,
    UpstreamSettings,
)

__all__ = [
    "CONFIG_ENV", "DEFAULT_CONFIG", "NOT_IN_FORCE", "PASSWORD_ENV", "AdminSettings",
    "AliasSettings", "ApiSettings", "ArchiveSettings", "AuthSettings", "ConfigError",
    "ContentSettings", "DkimSettings", "DnsSettings", "Duration", "LoggingSettings",
    "MetricsSettings", "PolicySettings", "QueueSettings", "ServerSettings", "Settings", "Size",
    "StoreSettings", "TemplateSettings", "UpstreamSettings", "config_path", "effective", "load",
    "parse", "parse_duration", "parse_size",
]
