from playground.ui.home import home_page

home_page()
