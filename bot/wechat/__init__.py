"""The WeChat boundary: signatures, AES, XML in and out, the /wechat webhook, the message router
and handlers, and exactly-once deliveries. The only package that imports wechatpy."""
