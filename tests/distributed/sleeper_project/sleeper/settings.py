BOT_NAME = "sleeper"
SPIDER_MODULES = ["sleeper.spiders"]
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
