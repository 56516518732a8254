"""The 入户宣传 campaign: villages and grids, household visits, police figures, 通报 and sheets."""
