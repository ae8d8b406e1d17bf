DROP TABLE IF EXISTS usage_dead_letters;
