"""User-facing texts that are not part of the knowledge base or a flow (Simplified Chinese)."""

SERVICES = [
    # (number label, flow id, description) — the welcome menu; flows are added in flows/*.yaml.
    ("预约办事", "booking", "预约到大厅办理业务"),
    ("办件进度查询", "progress", "查询已提交事项的办理进度"),
    ("投诉建议", "complaint", "反映问题、提出建议"),
    ("营业执照办理指引", "business_licence", "企业开办、营业执照所需材料与步骤"),
]

WELCOME_HEAD = (
    "您好，欢迎关注本政务服务号！我们7×24小时为您解答办事问题。\n"
    "您可以直接输入问题，例如「社保卡丢了怎么补办」，或回复数字办理以下服务："
)
WELCOME_TAIL = "回复「人工」可转人工客服。"

NOT_YET = "抱歉，智能问答功能正在上线中，请稍后再试，或回复「人工」联系客服。"
VOICE_EMPTY = "抱歉，没有听清您的语音，请直接输入文字描述您的问题。"
IMAGE = "已收到您的图片。目前暂不支持识别图片内容，请用文字描述您要咨询的问题。"
VIDEO = "已收到您的视频。目前暂不支持识别视频内容，请用文字描述您要咨询的问题。"
LOCATION = "已收到您的位置（{label}）。如需查询附近的政务服务大厅，请输入「办事大厅地址」。"
LINK = "已收到您分享的链接《{title}》。如有问题，请直接用文字描述。"
UNKNOWN = "抱歉，暂不支持此类消息，请用文字描述您的问题。"
MENU_UNKNOWN = "该菜单功能正在建设中，请直接输入您的问题。"
NO_MORE = "已经是全部内容了。如还有其他问题，请直接输入。"
MORE_HINT = "\n（回复「更多」查看后续内容）"


def welcome() -> str:
    lines = [WELCOME_HEAD]
    for i, (name, _flow, desc) in enumerate(SERVICES, start=1):
        lines.append(f"{i}. {name}：{desc}")
    lines.append(WELCOME_TAIL)
    return "\n".join(lines)

THANKS_WORDS = frozenset(
    {"谢谢", "谢谢你", "谢谢您", "多谢", "感谢", "好的谢谢", "好的，谢谢", "好的 谢谢", "谢了", "thanks", "thank you"}
)
YOU_ARE_WELCOME = "不客气，很高兴能帮到您！如还有其他问题，随时输入即可。"
NO_FLOW_COMMANDS = frozenset({"返回", "上一步", "重新开始", "取消", "退出", "结束"})
NOTHING_TO_LEAVE = "您当前没有正在办理的业务。"
# A number sent on its own, outside any flow, that is none of the numbers we look up.
BARE_NUMBER = (
    "收到您发来的一串号码，但单独的号码我们无法判断您要办什么：\n"
    "· 查询办件进度：回复「查进度」，再输入受理编号；\n"
    "· 查看预约或工单：回复「我的预约」或「我的工单」；\n"
    "· 需要补充联系电话或请工作人员联系您：回复「人工」。"
)

# Small talk outside a flow (flows.utterance classifies it): answered as a person would.
SMALL_TALK = {
    "ack": "好的。如还有其他问题，请直接输入；回复「菜单」可查看可以办理的服务。",
    "dismiss": "好的，有需要随时找我。",
    "praise": "谢谢您的肯定！还有其他问题随时问我。",
}
# 「你们是机器人吗」: said plainly, then what it can do and how to reach a person.
I_AM_THE_BOT = (
    "我是本号的智能客服，可以直接回答办事问题，也能帮您预约、查进度、反映问题；需要工作人员帮助请回复「人工」。"
)
SMILE = "😊"
SERVICES_HEAD = "请问您要办什么事？可以直接说，例如「预约明天办社保卡」「社保卡丢了怎么补办」，或回复数字："
REPHRASE = "好的，请换个说法，简单说说您要办的事或遇到的问题，例如「社保卡丢了怎么补办」「预约下周一办居住证」。"
OUT_OF_RANGE = "请回复 1 到 {last} 之间的数字："
