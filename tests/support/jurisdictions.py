"""Viet Nam's former province codes, written out independently of referral_domain/data/vn_provinces_2025.yaml."""

from __future__ import annotations

# Resolution 202/2025/QH15, written out independently of the data file: former code → current unit's code.
FORMER = {
    # the 11 units left unchanged map to themselves
    "VN-HN": "VN-HN", "VN-26": "VN-26", "VN-01": "VN-01", "VN-71": "VN-71", "VN-05": "VN-05", "VN-09": "VN-09",
    "VN-13": "VN-13", "VN-21": "VN-21", "VN-22": "VN-22", "VN-23": "VN-23", "VN-04": "VN-04",
    # Tuyên Quang ← Hà Giang; Lào Cai ← Yên Bái; Thái Nguyên ← Bắc Kạn
    "VN-07": "VN-07", "VN-03": "VN-07", "VN-02": "VN-02", "VN-06": "VN-02", "VN-69": "VN-69", "VN-53": "VN-69",
    # Phú Thọ ← Vĩnh Phúc, Hòa Bình; Bắc Ninh ← Bắc Giang; Hưng Yên ← Thái Bình
    "VN-68": "VN-68", "VN-70": "VN-68", "VN-14": "VN-68", "VN-56": "VN-56", "VN-54": "VN-56",
    "VN-66": "VN-66", "VN-20": "VN-66",
    # Hải Phòng ← Hải Dương; Ninh Bình ← Hà Nam, Nam Định; Quảng Trị ← Quảng Bình
    "VN-HP": "VN-HP", "VN-61": "VN-HP", "VN-18": "VN-18", "VN-63": "VN-18", "VN-67": "VN-18",
    "VN-25": "VN-25", "VN-24": "VN-25",
    # Đà Nẵng ← Quảng Nam; Quảng Ngãi ← Kon Tum; Gia Lai ← Bình Định; Khánh Hòa ← Ninh Thuận
    "VN-DN": "VN-DN", "VN-27": "VN-DN", "VN-29": "VN-29", "VN-28": "VN-29", "VN-30": "VN-30", "VN-31": "VN-30",
    "VN-34": "VN-34", "VN-36": "VN-34",
    # Lâm Đồng ← Đắk Nông, Bình Thuận; Đắk Lắk ← Phú Yên
    "VN-35": "VN-35", "VN-72": "VN-35", "VN-40": "VN-35", "VN-33": "VN-33", "VN-32": "VN-33",
    # Hồ Chí Minh ← Bình Dương, Bà Rịa - Vũng Tàu; Đồng Nai ← Bình Phước; Tây Ninh ← Long An
    "VN-SG": "VN-SG", "VN-57": "VN-SG", "VN-43": "VN-SG", "VN-39": "VN-39", "VN-58": "VN-39",
    "VN-37": "VN-37", "VN-41": "VN-37",
    # Cần Thơ ← Sóc Trăng, Hậu Giang; Vĩnh Long ← Bến Tre, Trà Vinh; Đồng Tháp ← Tiền Giang
    "VN-CT": "VN-CT", "VN-52": "VN-CT", "VN-73": "VN-CT", "VN-49": "VN-49", "VN-50": "VN-49", "VN-51": "VN-49",
    "VN-45": "VN-45", "VN-46": "VN-45",
    # Cà Mau ← Bạc Liêu; An Giang ← Kiên Giang
    "VN-59": "VN-59", "VN-55": "VN-59", "VN-44": "VN-44", "VN-47": "VN-44",
}  # fmt: skip
