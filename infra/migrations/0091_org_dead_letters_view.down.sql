DROP VIEW IF EXISTS org_dead_letters_per_day;
