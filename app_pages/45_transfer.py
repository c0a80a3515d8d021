from playground.ui.page import lab_page

lab_page("transfer")
