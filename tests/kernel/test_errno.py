from nookslab.kernel.errno import ENODEV, ETIMEDOUT, name, with_names


def test_an_error_number_is_named_beside_the_number():
    assert name(-ENODEV) == "ENODEV" and name(ETIMEDOUT) == "ETIMEDOUT"
    assert with_names("open /dev/null0 failed: -19") == "open /dev/null0 failed: -19 ENODEV"
    assert with_names("send returned -110 after 8 bytes") == \
        "send returned -110 ETIMEDOUT after 8 bytes"


def test_numbers_already_named_unknown_or_not_errors_are_left_alone():
    text = "-19 ENODEV, -9999, -1.5, a-3, 0x-5"
    assert with_names(text) == text
