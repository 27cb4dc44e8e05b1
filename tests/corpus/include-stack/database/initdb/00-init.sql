-- run once on the first start
SELECT 1;
