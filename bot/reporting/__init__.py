"""The campaign's statistics sheets (宣传活动统计表), from the question and push logs."""
